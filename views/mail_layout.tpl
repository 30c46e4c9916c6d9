<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{subject}}</title></head>
<body style="margin:0;padding:24px;background:#f5f6f8;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;color:#1f2430;line-height:1.5">
<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:24px 28px">
<p style="margin:0 0 16px;font-weight:600;color:#4b5563">{{program}}</p>
<h1 style="font-size:20px;margin:0 0 16px">{{subject}}</h1>
% for paragraph in paragraphs:
<p style="margin:0 0 14px">{{!paragraph}}</p>
% end
</div>
<p style="max-width:560px;margin:12px auto 0;font-size:12px;color:#6b7280">Sent by {{program}}'s affiliate program, run with affilut.</p>
</body>
</html>
