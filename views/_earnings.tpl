<h2>Earnings by status</h2>
<div class="stats">
  % for status in ("pending", "approved", "paid", "rejected"):
  <div class="stat"><span class="label">{{status.capitalize()}}</span>
    <span class="value">{{" · ".join(money(c, cur) for cur, c, n in earnings[status]) or money(0)}}</span>
    <span class="sub">{{sum(n for cur, c, n in earnings[status])}} conversions</span></div>
  % end
</div>
