% rebase("layout", title=title, page=page)
<section class="narrow card">
  <h1>{{title}}</h1>
  <p>{{text}}</p>
  % if link:
  <p><a class="button" href="{{link[0]}}">{{link[1]}}</a></p>
  % elif page.area == "dashboard":
  <p><a href="/dashboard">Back to the dashboard</a></p>
  % end
</section>
