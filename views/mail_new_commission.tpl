Subject: New commission: {{money(conversion["commission_cents"], conversion["currency"])}} from {{program}}
Hello {{affiliate["name"]}},

A sale you referred to {{program}} earned you {{money(conversion["commission_cents"], conversion["currency"])}} in commission (on a sale of {{money(conversion["amount_cents"], conversion["currency"])}}). It is {{conversion["status"]}} for now and is paid out once approved.

See it in your portal: {{portal_url}}

You can turn these emails off in your portal.
