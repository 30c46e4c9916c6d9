Subject: You are invited to {{program}}'s affiliate dashboard
You are invited to help run the {{program}} affiliate program on affilut.

Choose your password here. The link works once, for seven days:
{{invite_url}}
