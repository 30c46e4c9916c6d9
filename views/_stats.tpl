<div class="stats">
  <div class="stat"><span class="label">Clicks</span><span class="value">{{f"{stats['clicks']:,}"}}</span></div>
  <div class="stat"><span class="label">Conversions</span><span class="value">{{f"{stats['conversions']:,}"}}</span></div>
  <div class="stat"><span class="label">Conversion rate</span><span class="value">{{percent(stats["rate"])}}</span></div>
  <div class="stat"><span class="label">Revenue</span><span class="value">{{" · ".join(money(c, cur) for cur, c in stats["revenue"])}}</span></div>
  <div class="stat"><span class="label">Commission</span><span class="value">{{" · ".join(money(c, cur) for cur, c in stats["commission"])}}</span></div>
</div>
