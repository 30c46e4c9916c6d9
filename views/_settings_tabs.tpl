<nav class="tabs" aria-label="Settings">
  % tabs = (("/dashboard/settings", "Program"), ("/dashboard/settings/keys", "API keys"), ("/dashboard/settings/team", "Team"), ("/dashboard/settings/webhooks", "Webhooks"), ("/dashboard/settings/notifications", "Notifications"))
  % for href, label in (tabs if page.user["role"] == "owner" else (tabs[0], tabs[4])):
  <a href="{{href}}"{{!' aria-current="page"' if page.path == href else ''}}>{{label}}</a>
  % end
</nav>
