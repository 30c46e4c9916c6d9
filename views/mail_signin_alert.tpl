Subject: Many failed sign-ins to your {{program}} {{"affiliate portal" if who == "affiliate" else "dashboard"}}
Someone has tried many wrong passwords for this email address on {{program}}'s {{"affiliate portal" if who == "affiliate" else "dashboard on affilut"}}, so sign-ins for it are slowed down for a while.

You can still sign in as usual from a browser you have signed in with before.

If you do not know your password, or think someone may have it, choose a new one ("Forgot password?"):
{{forgot_url}}

If the failed attempts were yours, there is nothing to do.
