Subject: Webhook endpoint disabled: {{endpoint["url"]}}
affilut disabled the webhook endpoint {{endpoint["url"]}} of {{program}}: {{reason}}.

Nothing more is sent to it. Fix the receiver, then enable the endpoint again and resend what it missed in Settings → Webhooks:
{{settings_url}}
