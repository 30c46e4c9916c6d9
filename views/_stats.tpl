<div class="stats">
  <div class="stat"><span class="label">Clicks</span><span class="value">{{f"{stats['clicks']:,}"}}</span></div>
  <div class="stat"><span class="label">Conversions</span><span class="value">{{f"{stats['conversions']:,}"}}</span>
    <span class="sub">{{f"{stats['linked']:,}"}} through a link · {{f"{stats['other']:,}"}} other sources</span></div>
  <div class="stat"><span class="label">Link conversion rate</span><span class="value">{{percent(stats["rate"])}}</span>
    <span class="sub">conversions through a link ÷ clicks</span></div>
  <div class="stat"><span class="label">Revenue</span>
    % for cur, cents in stats["revenue"]:
    <span class="value money-line">{{money(cents, cur)}} <abbr class="currency">{{cur.upper()}}</abbr></span>
    % end
  </div>
  <div class="stat"><span class="label">Commission</span>
    % for cur, cents in stats["commission"]:
    <span class="value money-line">{{money(cents, cur)}} <abbr class="currency">{{cur.upper()}}</abbr></span>
    % end
  </div>
</div>
