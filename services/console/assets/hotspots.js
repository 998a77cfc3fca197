// The 社情民意 map (services/console/src/web/supervisor.rs). Loaded on every console page and
// idle unless the page has #hotspot-map: then it loads ECharts (a file of this origin, so the
// CSP's script-src 'self' allows it), the districts' GeoJSON and the page's JSON data, all
// named by the element's data- attributes; no inline script, no eval, no style attributes.
(function () {
  "use strict";
  var echartsLoading = null;

  function loadEcharts(src) {
    if (window.echarts) return Promise.resolve(window.echarts);
    if (!echartsLoading) {
      echartsLoading = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = src;
        s.onload = function () { resolve(window.echarts); };
        s.onerror = reject;
        document.head.appendChild(s);
      });
    }
    return echartsLoading;
  }

  function json(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(url + ": " + r.status); return r.json(); });
  }

  function draw() {
    var el = document.getElementById("hotspot-map");
    if (!el || el.getAttribute("data-drawn") === "yes") return;
    el.setAttribute("data-drawn", "yes");
    Promise.all([loadEcharts(el.dataset.echarts), json(el.dataset.geo), json(el.dataset.src)])
      .then(function (all) {
        var echarts = all[0], geo = all[1], data = all[2];
        echarts.registerMap("guangzhou", geo);
        var chart = echarts.init(el, null, { renderer: "canvas" });
        chart.setOption({
          tooltip: {
            trigger: "item",
            // Plain text: ECharts' default marker is HTML with a style attribute, which the
            // CSP refuses.
            formatter: function (p) {
              var name = data.labels[p.name] || p.name;
              return name + ": " + (p.value > 0 ? p.value : 0);
            }
          },
          visualMap: {
            min: 0, max: Math.max(data.max, 1), calculable: true, left: "left", bottom: 10,
            inRange: { color: ["#f2f6fb", "#f6c343", "#d9480f"] }
          },
          series: [{
            type: "map", map: "guangzhou", roam: false,
            label: { show: true, formatter: function (p) { return data.labels[p.name] || p.name; } },
            data: data.districts.map(function (d) { return { name: d.name, value: d.value }; })
          }]
        });
        el.setAttribute("data-ready", "yes");
        window.addEventListener("resize", function () { chart.resize(); });
      })
      .catch(function (e) {
        el.setAttribute("data-error", String(e));
        el.textContent = String(e);
      });
  }

  document.addEventListener("DOMContentLoaded", draw);
  // A boosted navigation swaps the body in without a new DOMContentLoaded.
  document.addEventListener("htmx:afterSettle", draw);
})();
