<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}} · affilut</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head>
<body class="area-{{page.area}}">
<header class="top">
  <div class="top-inner">
    % if page.area == "dashboard":
    <a class="brand" href="/dashboard">{{page.account["name"]}}</a>
    <nav class="nav" aria-label="Dashboard">
      % for href, label in (("/dashboard", "Overview"), ("/dashboard/affiliates", "Affiliates"), ("/dashboard/conversions", "Conversions"), ("/dashboard/payouts", "Payouts"), ("/dashboard/settings", "Settings")):
      % current = page.path == href or (href != "/dashboard" and page.path.startswith(href))
      <a href="{{href}}"{{!' aria-current="page"' if current else ''}}>{{label}}</a>
      % end
    </nav>
    <form class="signout" method="post" action="/signout">
      <input type="hidden" name="csrf" value="{{page.csrf}}">
      <span class="who">{{page.user["email"]}}</span>
      <button class="linkish" type="submit">Sign out</button>
    </form>
    % elif page.area == "portal":
    <a class="brand" href="/portal">{{page.account["name"]}} <span class="muted">affiliates</span></a>
    <form class="signout" method="post" action="/portal/signout">
      <input type="hidden" name="csrf" value="{{page.csrf}}">
      <span class="who">{{page.affiliate["email"]}}</span>
      <button class="linkish" type="submit">Sign out</button>
    </form>
    % else:
    <a class="brand" href="/">affilut</a>
    % end
  </div>
</header>
<main class="main">
  % for banner in getattr(page, "banners", []):
  <p class="callout warn banner" role="alert">{{banner}}</p>
  % end
  % if page.notice:
  <p class="notice" role="status">{{page.notice}}</p>
  % end
  {{!base}}
</main>
<footer class="foot">affilut · self-hosted affiliate programs</footer>
</body>
</html>
