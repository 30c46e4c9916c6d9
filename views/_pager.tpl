% if older or newer:
<nav class="pager" aria-label="Pages">
  % if newer:
  <a href="{{pager_path}}{{"?" if pager_query else ""}}{{pager_query}}">« Newest</a>
  <a href="?{{pager_query}}{{'&' if pager_query else ''}}after={{newer}}">← Newer</a>
  % end
  % if older:
  <a href="?{{pager_query}}{{'&' if pager_query else ''}}before={{older}}">Older →</a>
  % end
</nav>
% end
