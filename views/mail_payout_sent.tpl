Subject: {{program}} sent you {{money(payout["amount_cents"], payout["currency"])}}
Hello {{affiliate["name"]}},

{{program}} paid you {{money(payout["amount_cents"], payout["currency"])}} ({{payout["currency"].upper()}}) for {{payout["conversion_count"]}} {{"conversion" if payout["conversion_count"] == 1 else "conversions"}}, to {{payout["paid_to"]}}.
% if payout["note"]:

Note: {{payout["note"]}}
% end

Payout {{payout["id"]}}. Your payouts are listed in your portal: {{portal_url}}
