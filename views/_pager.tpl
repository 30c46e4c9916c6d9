% if number > 1 or has_more:
<nav class="pager" aria-label="Pages">
  % if number > 1:
  <a href="?{{pager_query}}{{'&' if pager_query else ''}}page={{number - 1}}">← Newer</a>
  % end
  <span class="muted">Page {{number}}</span>
  % if has_more:
  <a href="?{{pager_query}}{{'&' if pager_query else ''}}page={{number + 1}}">Older →</a>
  % end
</nav>
% end
