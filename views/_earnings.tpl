<h2>Earnings by status</h2>
<div class="stats">
  % for status in ("pending", "approved", "paid", "rejected"):
  <div class="stat"><span class="label">{{status.capitalize()}}</span>
    <span class="value">{{" · ".join(money(c, cur) for cur, c, n in earnings[status]) or money(0)}}</span>
    % count = sum(n for cur, c, n in earnings[status])
    <span class="sub">{{count}} conversion{{"" if count == 1 else "s"}}</span></div>
  % end
</div>
