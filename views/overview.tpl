% rebase("layout", title="Overview", page=page)
<h1>Overview</h1>
% if pending:
<p class="callout"><a href="/dashboard/affiliates?status=pending">{{pending}} affiliate{{"s" if pending != 1 else ""}} waiting for approval</a></p>
% end
% for ceiling in ceilings:
<p class="callout">Someone tried many wrong passwords for {{"your team member" if ceiling["kind"] == "user" else "the affiliate"}}
  <strong>{{ceiling["email"]}}</strong> (last {{when(ceiling["last_at"])}} UTC), so sign-ins for that email are slowed down
  for a while in browsers that never signed in as them, and they were emailed. Their own browsers still sign in; if this was not them, make sure their password is long and not used elsewhere.</p>
% end
<h2>Last 30 days</h2>
% include("_stats", stats=recent, money=money, percent=percent)
<div class="card chart-card">
  <div class="chart-legend"><span class="key clicks"></span> Clicks <span class="key conversions"></span> Conversions <span class="muted">per day, UTC</span></div>
  {{!chart}}
</div>
<h2>All time</h2>
% include("_stats", stats=total, money=money, percent=percent)
<h2>Top affiliates, {{month}} (UTC)</h2>
% if top:
<p class="muted">Ranked by revenue within each currency.</p>
<div class="table-wrap"><table class="top-affiliates">
  <thead><tr><th>Affiliate</th><th>Currency</th><th class="num">Conversions</th><th class="num">Revenue</th><th class="num">Commission</th></tr></thead>
  <tbody>
  % for row in top:
  <tr><td><a href="/dashboard/affiliates/{{row['id']}}">{{row["name"]}}</a></td><td>{{row["currency"].upper()}}</td><td class="num">{{row["conversions"]}}</td>
      <td class="num">{{money(row["revenue"], row["currency"])}}</td><td class="num">{{money(row["commission"], row["currency"])}}</td></tr>
  % end
  </tbody>
</table></div>
% else:
<p class="muted">No conversions in {{month}} yet.</p>
% end
