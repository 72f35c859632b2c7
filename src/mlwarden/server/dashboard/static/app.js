// Warden dashboard: the little JavaScript it needs. No build step, no network beyond this site.
"use strict";

// htmx sends forms as JSON: the server takes JSON bodies only (a cross-site HTML form cannot
// send JSON without a CORS preflight, which this server never grants).
if (window.htmx) {
  htmx.defineExtension("json-enc", {
    onEvent: function (name, evt) {
      if (name === "htmx:configRequest") {
        evt.detail.headers["Content-Type"] = "application/json";
      }
    },
    encodeParameters: function (xhr, parameters) {
      xhr.overrideMimeType("text/json");
      var out = {};
      parameters.forEach(function (value, key) { out[key] = value; });
      return JSON.stringify(out);
    },
  });
}
document.addEventListener("DOMContentLoaded", function () {
  renderCharts();
  checkProof();
});

// ---------------------------------------------------------------------------- charts

function renderCharts() {
  if (!window.vegaEmbed) return;
  document.querySelectorAll("[data-spec]").forEach(function (el) {
    var data = document.getElementById("spec-" + el.dataset.spec);
    if (!data) return;
    vegaEmbed(el, JSON.parse(data.textContent), {
      actions: false, renderer: "svg", ast: false,
    }).then(function () { el.dataset.rendered = "true"; })
      .catch(function (err) { el.textContent = "Chart failed: " + err; el.dataset.rendered = "error"; });
  });
}

// ---------------------------------------------------------------------------- audit proof
// RFC 6962 / 9162 with WebCrypto SHA-256, the same encoding as mlwarden/entities/audit.py.

var enc = new TextEncoder();

function hex(buf) {
  return Array.from(new Uint8Array(buf)).map(function (b) { return b.toString(16).padStart(2, "0"); }).join("");
}
function unhex(text) {
  var out = new Uint8Array(text.length / 2);
  for (var i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}
function concat(parts) {
  var n = parts.reduce(function (s, p) { return s + p.length; }, 0);
  var out = new Uint8Array(n), at = 0;
  parts.forEach(function (p) { out.set(p, at); at += p.length; });
  return out;
}
async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}
function u32(n) { var b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n); return b; }
function u64(n) { var b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return b; }
function lp(text) { var t = enc.encode(text); return concat([u32(t.length), t]); }

async function leafHash(e) {
  var data = concat([new Uint8Array([1]), u64(e.seq), lp(e.time), lp(e.actor), lp(e.action),
                     lp(e.subject), unhex(e.payload_digest)]);
  return sha256(concat([new Uint8Array([0]), data]));
}
async function nodeHash(l, r) { return sha256(concat([new Uint8Array([1]), l, r])); }

// RFC 9162 section 2.1.3.2
async function verifyInclusion(leaf, index, size, path, root) {
  if (index >= size) return false;
  var fn = index, sn = size - 1, r = leaf;
  for (var i = 0; i < path.length; i++) {
    var p = path[i];
    if (sn === 0) return false;
    if ((fn & 1) || fn === sn) {
      r = await nodeHash(p, r);
      if (!(fn & 1)) { while (fn !== 0 && !(fn & 1)) { fn >>= 1; sn >>= 1; } }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1; sn >>= 1;
  }
  return sn === 0 && hex(r) === hex(root);
}

function b64(bytes) { return btoa(String.fromCharCode.apply(null, Array.from(bytes))); }
function unb64(text) { return Uint8Array.from(atob(text), function (c) { return c.charCodeAt(0); }); }

// The checkpoint's signed text (mlwarden/audit/signing.py: signed_text) checked with WebCrypto
// Ed25519; null (not shown as a failure) where the browser has no Ed25519.
async function checkSignature(cp) {
  if (!cp.public_key || !cp.signature) return false;
  var raw = unb64(cp.public_key);
  if (hex(await sha256(raw)).slice(0, 16) !== cp.key_id) return false;
  var text = cp.origin + "\n" + cp.tree_size + "\n" + b64(unhex(cp.root_hash)) + "\n" + cp.time + "\n";
  try {
    var key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, unb64(cp.signature), enc.encode(text));
  } catch (err) {
    if (err && err.name === "NotSupportedError") return null;
    throw err;
  }
}

async function checkProof() {
  var node = document.getElementById("proof-data");
  if (!node) return;
  var d = JSON.parse(node.textContent);
  var steps = document.getElementById("proof-steps");
  var verdict = document.getElementById("proof-verdict");
  steps.innerHTML = "";
  var all = true;
  function step(ok, text) {
    var li = document.createElement("li");
    li.className = ok === null ? "skip" : ok ? "pass" : "fail";
    li.textContent = (ok === null ? "— " : ok ? "✓ " : "✗ ") + text;
    steps.appendChild(li);
    if (ok === false) all = false;
  }
  try {
    if (!window.crypto || !crypto.subtle) throw new Error("this browser has no WebCrypto (use HTTPS or localhost)");
    var e = d.event, payload = e.payload_json ? JSON.parse(e.payload_json) : null;
    var batchOk = null;
    if (d.ids && payload) {
      var inBatch = d.ids.indexOf(d.prediction_id) >= 0;
      var idsHash = hex(await sha256(enc.encode(d.ids.join("\n"))));
      batchOk = inBatch && idsHash === payload.ids_sha256 && d.ids.length === payload.count;
      step(batchOk, "the prediction is one of the batch's " + d.ids.length + " ids, which hash to ids_sha256 " + payload.ids_sha256.slice(0, 12) + "…");
    } else {
      step(null, "batch membership not shown (the batch's ids could not be listed); the event's inclusion is still checked");
    }
    if (e.salt && e.payload_json) {
      var digest = hex(await sha256(concat([unhex(e.salt), enc.encode(e.payload_json)])));
      step(digest === e.payload_digest, "the payload hashes (with its salt) to the event's digest " + e.payload_digest.slice(0, 12) + "…");
    } else {
      step(null, "payload erased: only the digest is committed");
    }
    var leaf = await leafHash(e);
    step(hex(leaf) === d.proof.leaf_hash, "event #" + e.seq + " hashes to its Merkle leaf " + hex(leaf).slice(0, 12) + "…");
    var ok = await verifyInclusion(leaf, e.seq - 1, d.proof.tree_size, d.proof.path.map(unhex), unhex(d.proof.root_hash));
    step(ok, "its audit path of " + d.proof.path.length + " hashes leads to the root of the tree of size " + d.proof.tree_size);
    if (d.checkpoint) {
      step(d.checkpoint.root_hash === d.proof.root_hash && d.checkpoint.tree_size === d.proof.tree_size,
           "that root is the signed checkpoint's root");
      step(await checkSignature(d.checkpoint),
           "the checkpoint's Ed25519 signature is valid for key " + d.checkpoint.key_id +
           " (compare it with the key you trust: mlwarden audit pubkey)");
    }
    verdict.textContent = all
      ? (batchOk ? "Verified in your browser: this prediction is in the tamper-evident audit log."
                 : "Verified in your browser: the batch's audit event is in the log (batch membership not shown).")
      : "Verification FAILED: the proof does not match.";
    verdict.className = "verdict " + (all ? "pass" : "fail");
    verdict.dataset.result = all ? (batchOk ? "verified" : "event-verified") : "failed";
  } catch (err) {
    verdict.textContent = "Could not verify: " + err.message;
    verdict.className = "verdict fail";
    verdict.dataset.result = "error";
  }
}
