Subject: Your application to {{program}} arrived
Hello {{affiliate["name"]}},

Thank you for applying to the {{program}} affiliate program. We will let you know by email as soon as your application is reviewed.

Your referral link starts earning once you are approved.
