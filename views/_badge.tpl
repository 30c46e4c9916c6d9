<span class="badge badge-{{status}}">{{status}}</span>
