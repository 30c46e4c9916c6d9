Subject: You are approved: welcome to the {{program}} affiliate program
Hello {{affiliate["name"]}},

Good news: {{program}} approved your application. Your referral link earns commission from now on.

Sign in to your affiliate portal for your link, your numbers and your payouts:
{{portal_url}}
