// Skip logic on the answer page: a question with data-show-if is shown only while the earlier
// question it names has one of the listed answers. Without this script every question shows,
// with a note saying when to answer it, and the portal drops answers to questions that do not
// apply; with it, they are hidden (and their inputs disabled, so they are not sent).
(function () {
  "use strict";
  var form = document.querySelector("form.answer-form");
  if (!form) return;
  var blocks = Array.prototype.slice.call(form.querySelectorAll("[data-show-if]"));
  function answersOf(key) {
    var picked = [];
    var inputs = form.querySelectorAll('[name="' + key + '"]');
    Array.prototype.forEach.call(inputs, function (input) {
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) return;
      if (input.value) picked.push(input.value);
    });
    return picked;
  }
  function visible(key) {
    var block = document.getElementById("block-" + key);
    return !block || !block.hidden;
  }
  function update() {
    blocks.forEach(function (block) {
      var source = block.getAttribute("data-show-if");
      var wanted = JSON.parse(block.getAttribute("data-show-values"));
      var show = visible(source) && answersOf(source).some(function (v) {
        return wanted.indexOf(v) >= 0;
      });
      block.hidden = !show;
      Array.prototype.forEach.call(block.querySelectorAll("input, select, textarea"), function (el) {
        el.disabled = !show;
      });
      var note = block.querySelector(".condition");
      if (note) note.hidden = true;
    });
  }
  form.addEventListener("change", update);
  update();

  // Saved as the resident goes: a moment after each change, the answers so far are kept for
  // this link (POST <link>/draft); nothing counts until they are sent.
  var status = form.querySelector(".autosave");
  if (!status || !window.fetch || !window.FormData) return;
  var timer = null;
  function save() {
    var body = new FormData(form);
    body.delete("save");
    window.fetch(form.getAttribute("action") + "/draft", {
      method: "POST",
      body: body,
      credentials: "same-origin"
    }).then(function (response) {
      if (response.status === 204) status.textContent = status.getAttribute("data-saved");
    }).catch(function () { /* kept at the next change, or with the buttons */ });
  }
  function later() {
    if (timer) window.clearTimeout(timer);
    timer = window.setTimeout(save, 1500);
  }
  form.addEventListener("change", later);
  form.addEventListener("input", later);
})();
