Subject: Reset your {{program}} {{"affiliate portal" if who == "affiliate" else "dashboard"}} password
Someone asked to reset the password of this email address for {{program}}'s {{"affiliate portal" if who == "affiliate" else "dashboard on affilut"}}.

Choose a new password here. The link works once, for one hour:
{{reset_url}}

If you did not ask for this, ignore this email: your password stays as it is.
