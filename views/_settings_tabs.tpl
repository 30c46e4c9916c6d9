<nav class="tabs" aria-label="Settings">
  % for href, label in (("/dashboard/settings", "Program"), ("/dashboard/settings/keys", "API keys"), ("/dashboard/settings/team", "Team"), ("/dashboard/settings/webhooks", "Webhooks"), ("/dashboard/settings/notifications", "Notifications")):
  <a href="{{href}}"{{!' aria-current="page"' if page.path == href else ''}}>{{label}}</a>
  % end
</nav>
