Subject: Your {{program}} affiliate portal
Hello {{affiliate["name"]}},

{{program}} invites you to its affiliate portal, where you find your referral link, your numbers and your payouts.

Choose your password here. The link works once, for seven days:
{{invite_url}}
