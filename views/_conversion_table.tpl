% if rows:
<div class="table-wrap"><table class="cards conversions-table">
  <thead><tr>{{!'<th></th>' if names is not None else ''}}<th>Date (UTC)</th>{{!'<th>Affiliate</th>' if names is not None else ''}}<th class="hide-phone">Kind</th><th class="num">Amount</th><th class="num">Commission</th><th>Status</th></tr></thead>
  <tbody>
  % for row in rows:
  <tr>
    % if names is not None:
    <td>
      % if changeable(row):  # paid and rejected are final: no bulk action can change them
      <input type="checkbox" name="id" value="{{row['id']}}" aria-label="Select {{row['id']}}">
      % end
    </td>
    % end
    <td class="nowrap" title="{{row['id']}}">{{day(row["created_at"])}}<span class="hide-phone"> {{when(row["created_at"])[11:]}}</span></td>
    % if names is not None:
    <td><a href="/dashboard/affiliates/{{row['affiliate_id']}}">{{names.get(row["affiliate_id"], row["affiliate_id"])}}</a></td>
    % end
    <td class="hide-phone">{{row["kind"]}}{{" · " + row["external_id"] if row["external_id"] else ""}}</td>
    <td class="num" data-label="Amount">{{money(row["amount_cents"], row["currency"])}}</td>
    <td class="num" data-label="Commission">{{money(row["commission_cents"], row["currency"])}}</td>
    <td>
      % if not row["livemode"]:
      <span class="badge badge-test">test</span>
      % end
      <span class="badge badge-{{row['status']}}">{{row["status"]}}</span>
      % if row["reason"]:
      <span class="hint">{{row["reason"]}}</span>
      % end
      % if names is not None:
      <span class="row-actions">
        % if row["status"] == "pending":
        <button class="small" name="row_action" value="approve:{{row['id']}}">Approve</button>
        % end
        % if row["status"] in ("pending", "approved"):
        <button class="small secondary" name="row_action" value="reject:{{row['id']}}">Reject</button>
        % end
        % if row["status"] == "approved":
        <button class="small secondary" name="row_action" value="pay:{{row['id']}}">Mark paid</button>
        % end
      </span>
      % end
    </td>
  </tr>
  % end
  </tbody>
</table></div>
% else:
<p class="muted">No conversions.</p>
% end
