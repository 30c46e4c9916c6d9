Subject: New affiliate application: {{affiliate["name"]}}
{{affiliate["name"]}} ({{affiliate["email"]}}) applied to join the {{program}} affiliate program.

Review the application and approve or decline it:
{{review_url}}
