<div class="copy-row">
  <input id="{{copy_id}}" class="mono" readonly value="{{copy_value}}" aria-label="{{copy_label}}">
  <button type="button" class="secondary" data-copy="{{copy_id}}">Copy</button>
</div>
