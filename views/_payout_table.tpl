% if rows:
<div class="table-wrap"><table class="cards payouts-table">
  <thead><tr><th>Paid (UTC)</th>{{!'<th>Affiliate</th>' if show_affiliate else ''}}<th class="hide-phone">Paid to</th><th class="num">Conversions</th><th class="num">Amount</th><th class="hide-phone">Note</th></tr></thead>
  <tbody>
  % for row in rows:
  <tr><td class="nowrap" title="{{row['id']}}">{{when(row["created_at"])}}</td>
    % if show_affiliate:
    <td><a href="/dashboard/affiliates/{{row['affiliate_id']}}">{{row["affiliate_name"]}}</a></td>
    % end
    <td class="hide-phone">{{row["paid_to"]}}</td><td class="num" data-label="Conversions">{{row["conversion_count"]}}</td>
    <td class="num" data-label="Amount">{{money(row["amount_cents"], row["currency"])}}</td><td class="hide-phone">{{row["note"] or ""}}</td></tr>
  % end
  </tbody>
</table></div>
% else:
<p class="muted">No payouts yet.</p>
% end
