Subject: {{program}}: {{count}} {{"conversion" if count == 1 else "conversions"}} on {{day(digest_day)}}
Conversions of {{program}} on {{day(digest_day)}} (UTC): {{count}}.

% for currency, (revenue, commission) in sorted(totals.items()):
{{currency.upper()}}: {{money(revenue, currency)}} in sales, {{money(commission, currency)}} in commission.
% end

% for row in rows:
- {{row["affiliate_name"]}}: {{money(row["amount_cents"], row["currency"])}} sale, {{money(row["commission_cents"], row["currency"])}} commission ({{row["status"]}})
% end
% if count > len(rows):
- and {{count - len(rows)}} more
% end

All conversions: {{dashboard_url}}

You can turn this digest off in Settings → Notifications.
