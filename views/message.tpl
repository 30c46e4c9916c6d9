% rebase("layout", title=title, page=page)
<section class="narrow card">
  <h1>{{title}}</h1>
  % if isinstance(text, str):
  <p>{{text}}</p>
  % else:  # a tuple: its second, fourth... parts are code
  <p>\\
    % for i, part in enumerate(text):
{{!"<code>" if i % 2 else ""}}{{part}}{{!"</code>" if i % 2 else ""}}\\
    % end
</p>
  % end
  <p><a class="button" href="{{link[0]}}">{{link[1]}}</a></p>
</section>
