// PainFree Pharmacy front end: builds the product list (infinite scroll) and product pages from the JSON API.
(function () {
  "use strict";
  var app = document.getElementById("app");
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function getJSON(url) {
    return fetch(url, {headers: {"Accept": "application/json"}}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    });
  }
  function renderList() {
    app.innerHTML = "";
    var grid = el("div", "products");
    app.appendChild(grid);
    var page = 0, loading = false, done = false;
    function more() {
      if (loading || done) return;
      loading = true;
      getJSON("/shop/api/products?page=" + (page + 1)).then(function (data) {
        page = data.page;
        data.products.forEach(function (p) {
          var card = el("div", "product");
          card.setAttribute("data-id", p.id);
          var img = el("img", "thumb"); img.src = p.image; card.appendChild(img);
          var a = el("a", "product-link", p.title); a.href = "/shop/p/" + p.id; card.appendChild(a);
          card.appendChild(el("span", "price", p.price_text));
          grid.appendChild(card);
        });
        done = !data.has_more;
        if (done) app.appendChild(el("p", "end-of-list", "No more products"));
        loading = false;
        // keep the page taller than the window so that scrolling can load the next page
        grid.style.paddingBottom = done ? "0" : "1500px";
      });
    }
    window.addEventListener("scroll", function () {
      if (window.innerHeight + window.scrollY >= document.body.scrollHeight - 400) more();
    });
    more();
  }
  function renderProduct(id) {
    getJSON("/shop/api/products/" + encodeURIComponent(id)).then(function (p) {
      app.innerHTML = "";
      var box = el("div", "product-page");
      box.setAttribute("data-product-id", p.id);
      box.appendChild(el("h1", "product-title", p.title));
      var img = el("img", "product-image"); img.src = p.images[0]; box.appendChild(img);
      var dl = el("dl", "facts");
      [["Price", "product-price", p.price_text], ["Quantity", "product-qty", p.quantity],
       ["Seller", "seller", p.seller], ["Ships from", "ships-from", p.ships_from],
       ["Ships to", "ships-to", p.ships_to], ["Category", "category", p.category],
       ["Stock", "stock", p.stock]].forEach(function (row) {
        dl.appendChild(el("dt", null, row[0]));
        dl.appendChild(el("dd", row[1], row[2]));
      });
      box.appendChild(dl);
      var t = el("time", "posted", p.posted_at); t.setAttribute("datetime", p.posted_at); box.appendChild(t);
      box.appendChild(el("div", "product-desc", p.description));
      app.appendChild(box);
    }).catch(function (err) {
      app.innerHTML = "";
      app.appendChild(el("h1", "error", "Product not found"));
    });
  }
  var m = window.location.pathname.match(/^\/shop\/p\/([\w-]+)/);
  if (m) renderProduct(m[1]); else renderList();
})();
