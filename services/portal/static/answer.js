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

// Map questions: a small slippy map (web-mercator tiles from the council's tile server) over
// the list of places. Drag or use the arrow keys to move it, the buttons or +/- to zoom; a
// click or tap, or Enter, marks a place (at the centre's cross for Enter), which fills the
// next free place of the list below with its point (the hidden lat/lon fields): the form
// posts the same fields as without the map, so the portal has one parser. Without this
// script, or when no tile loads, the map stays hidden and places are chosen by district.
(function () {
  "use strict";
  var TILE = 256, MIN_ZOOM = 3, MAX_ZOOM = 18, STEP = 64, WAIT_MS = 10000;
  var PARTS = ["lat", "lon", "district", "category", "comment"];

  function project(lat, lon, zoom) {
    var size = TILE * Math.pow(2, zoom);
    lat = Math.max(-85.0511, Math.min(85.0511, lat));
    var rad = lat * Math.PI / 180;
    return [
      (lon + 180) / 360 * size,
      (1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2 * size
    ];
  }
  function unproject(x, y, zoom) {
    var size = TILE * Math.pow(2, zoom);
    var lon = x / size * 360 - 180;
    lon = ((lon + 540) % 360) - 180;
    var lat = Math.atan(Math.sinh(Math.PI * (1 - 2 * y / size))) * 180 / Math.PI;
    return [lat, lon];
  }
  function fill(text, n) { return text.replace("{n}", String(n)); }

  function setUp(box) {
    var widget = box.querySelector(".map-widget");
    if (!widget) return;
    var view = widget.querySelector(".map-view");
    var tiles = view.querySelector(".map-tiles");
    var markers = view.querySelector(".map-markers");
    var status = widget.querySelector("[data-map-status]");
    var template = box.getAttribute("data-map-tiles");
    var zoom = parseInt(box.getAttribute("data-map-zoom"), 10);
    var centre = project(parseFloat(box.getAttribute("data-map-lat")),
      parseFloat(box.getAttribute("data-map-lon")), zoom);
    var slots = Array.prototype.slice.call(box.querySelectorAll("fieldset.pin"));
    var images = {};
    var loaded = false, failed = false;

    function field(slot, part) { return slot.querySelector('[name$="-' + part + '"]'); }
    function point(slot) {
      var lat = field(slot, "lat").value, lon = field(slot, "lon").value;
      return lat && lon ? [parseFloat(lat), parseFloat(lon)] : null;
    }
    function used(slot) {
      return PARTS.some(function (part) {
        var input = field(slot, part);
        return input && input.value;
      });
    }
    function say(text) {
      status.textContent = "";
      window.setTimeout(function () { status.textContent = text; }, 50);
    }
    function changed(input) {
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    // Tiles unreachable: the list of districts, as without scripts.
    function fallBack() {
      if (failed || loaded) return;
      failed = true;
      widget.hidden = true;
      slots.forEach(function (slot) {
        slot.hidden = false;
        Array.prototype.forEach.call(slot.querySelectorAll(".pin-remove, .pin-where"),
          function (el) { el.parentNode.removeChild(el); });
      });
    }

    function tileUrl(z, x, y) {
      var n = Math.pow(2, z);
      return template.replace("{z}", z).replace("{x}", ((x % n) + n) % n).replace("{y}", y);
    }

    function render() {
      var w = view.clientWidth, h = view.clientHeight;
      var left = centre[0] - w / 2, top = centre[1] - h / 2;
      var n = Math.pow(2, zoom);
      var wanted = {};
      var y0 = Math.max(0, Math.floor(top / TILE)), y1 = Math.min(n - 1, Math.floor((top + h) / TILE));
      for (var ty = y0; ty <= y1; ty++) {
        for (var tx = Math.floor(left / TILE); tx <= Math.floor((left + w) / TILE); tx++) {
          var key = zoom + "/" + tx + "/" + ty;
          wanted[key] = true;
          var img = images[key];
          if (!img) {
            img = document.createElement("img");
            img.alt = "";
            img.className = "map-tile";
            img.draggable = false;
            img.addEventListener("load", function () { loaded = true; });
            img.addEventListener("error", fallBack);
            img.src = tileUrl(zoom, tx, ty);
            tiles.appendChild(img);
            images[key] = img;
          }
          img.style.left = Math.round(tx * TILE - left) + "px";
          img.style.top = Math.round(ty * TILE - top) + "px";
        }
      }
      Object.keys(images).forEach(function (key) {
        if (!wanted[key]) {
          tiles.removeChild(images[key]);
          delete images[key];
        }
      });
      markers.textContent = "";
      slots.forEach(function (slot, index) {
        var at = point(slot);
        if (!at) return;
        var xy = project(at[0], at[1], zoom);
        var mark = document.createElement("span");
        mark.className = "map-marker";
        mark.textContent = String(index + 1);
        mark.style.left = Math.round(xy[0] - left) + "px";
        mark.style.top = Math.round(xy[1] - top) + "px";
        markers.appendChild(mark);
      });
    }

    function dress(slot, index) {
      if (point(slot) && !slot.querySelector(".pin-where")) {
        var where = document.createElement("p");
        where.className = "hint pin-where";
        where.textContent = widget.getAttribute("data-on-map");
        slot.querySelector("legend").insertAdjacentElement("afterend", where);
      }
      if (!slot.querySelector(".pin-remove")) {
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "button-secondary pin-remove";
        remove.textContent = fill(widget.getAttribute("data-remove"), index + 1);
        remove.addEventListener("click", function () { removePin(slot, index); });
        slot.appendChild(remove);
      }
    }

    function place(x, y) {
      var free = slots.filter(function (slot) { return !used(slot); })[0];
      if (!free) {
        say(fill(widget.getAttribute("data-full"), slots.length));
        return;
      }
      var at = unproject(x, y, zoom);
      field(free, "lat").value = at[0].toFixed(5);
      field(free, "lon").value = at[1].toFixed(5);
      var index = slots.indexOf(free);
      free.hidden = false;
      dress(free, index);
      render();
      changed(field(free, "lat"));
      say(fill(widget.getAttribute("data-added"), index + 1));
    }

    function removePin(slot, index) {
      PARTS.forEach(function (part) {
        var input = field(slot, part);
        if (input) input.value = "";
      });
      var where = slot.querySelector(".pin-where");
      if (where) where.parentNode.removeChild(where);
      slot.hidden = true;
      render();
      changed(field(slot, "lat"));
      view.focus();
      say(fill(widget.getAttribute("data-removed"), index + 1));
    }

    function zoomBy(step) {
      var next = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, zoom + step));
      var factor = Math.pow(2, next - zoom);
      centre = [centre[0] * factor, centre[1] * factor];
      zoom = next;
      render();
    }
    function pan(dx, dy) {
      centre = [centre[0] + dx, centre[1] + dy];
      render();
    }

    var drag = null;
    view.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, from: centre, moved: false };
      view.setPointerCapture(event.pointerId);
    });
    view.addEventListener("pointermove", function (event) {
      if (!drag) return;
      var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 5) drag.moved = true;
      if (drag.moved) {
        centre = [drag.from[0] - dx, drag.from[1] - dy];
        render();
      }
    });
    view.addEventListener("pointerup", function (event) {
      var was = drag;
      drag = null;
      if (!was || was.moved) return;
      var box = view.getBoundingClientRect();
      place(centre[0] - box.width / 2 + (event.clientX - box.left),
        centre[1] - box.height / 2 + (event.clientY - box.top));
    });
    view.addEventListener("pointercancel", function () { drag = null; });
    view.addEventListener("keydown", function (event) {
      switch (event.key) {
        case "ArrowLeft": pan(-STEP, 0); break;
        case "ArrowRight": pan(STEP, 0); break;
        case "ArrowUp": pan(0, -STEP); break;
        case "ArrowDown": pan(0, STEP); break;
        case "+": case "=": zoomBy(1); break;
        case "-": case "_": zoomBy(-1); break;
        case "Enter": case " ": place(centre[0], centre[1]); break;
        default: return;
      }
      event.preventDefault();
    });
    Array.prototype.forEach.call(widget.querySelectorAll("[data-map-zoom]"), function (button) {
      button.addEventListener("click", function () {
        zoomBy(parseInt(button.getAttribute("data-map-zoom"), 10));
      });
    });
    widget.querySelector("[data-map-place]").addEventListener("click", function () {
      place(centre[0], centre[1]);
    });
    window.addEventListener("resize", render);

    slots.forEach(function (slot, index) {
      if (used(slot)) dress(slot, index);
      else slot.hidden = true;
    });
    widget.hidden = false;
    render();
    window.setTimeout(fallBack, WAIT_MS);
  }

  Array.prototype.forEach.call(document.querySelectorAll(".pins[data-map-tiles]"), setUp);
})();
