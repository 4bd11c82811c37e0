/* Xueliang live view: play a camera in a <video> element over WebRTC.
 *
 *   const handle = XLLive.play(videoElement, "cam01", token, {base: "/api/live"});
 *   await handle.ready;           // resolves once the answer is applied (rejects with the server's reason)
 *   handle.mode                   // "passthrough" (camera H.264 as is) or "transcode" (shared re-encode)
 *   handle.codec, handle.reason   // what the browser receives (h264|vp8) and why this mode
 *   onState: "playing" only once frames decode; "switching" when the server moves a stalled
 *            passthrough tile to transcode (the tile reconnects by itself, or the server has
 *            switched it in place after the browser's RTCP feedback)
 *   await handle.stats()          // {framesDecoded, codec, ...} from getStats()
 *   handle.close();               // stops the viewer and tells the server (DELETE)
 *
 * Non-trickle ICE: the offer is posted once candidate gathering is complete. H.264 is put
 * first with setCodecPreferences so the server can relay the camera's stream untouched;
 * a browser without H.264 offers VP8 only and the server falls back to transcoding.
 * Video walls need tiles that heal themselves: when the connection fails or the stream
 * ends, the helper reconnects with back-off until close() is called.
 */
(function (global) {
  "use strict";

  function waitIceComplete(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
      function check() { if (pc.iceGatheringState === "complete") done(); }
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  function preferH264(transceiver) {
    if (!global.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities || !transceiver.setCodecPreferences) return false;
    var codecs = RTCRtpReceiver.getCapabilities("video").codecs;
    var h264 = codecs.filter(function (c) {
      return c.mimeType.toLowerCase() === "video/h264" && /packetization-mode=1/.test(c.sdpFmtpLine || "");
    });
    if (!h264.length) return false;
    var rest = codecs.filter(function (c) { return h264.indexOf(c) < 0; });
    transceiver.setCodecPreferences(h264.concat(rest));
    return true;
  }

  function restrictCodecs(transceiver, mimeTypes) {
    var wanted = mimeTypes.map(function (m) { return m.toLowerCase(); });
    var codecs = RTCRtpReceiver.getCapabilities("video").codecs.filter(function (c) {
      return wanted.indexOf(c.mimeType.toLowerCase()) >= 0;
    });
    transceiver.setCodecPreferences(codecs);
  }

  function play(video, cameraId, token, options) {
    var opts = Object.assign({
      base: "/api/live",
      mode: "auto",            // "transcode" forces the fallback; "passthrough" skips the server's stream checks
      stream: "main",          // "sub": the camera's sub-stream, for 9/16-tile layouts
      offerCodecs: null,       // e.g. ["video/VP8"]: offer only these (a browser whose H.264 decoder is broken)
      iceServers: [],          // none by default: never reach out to a public STUN server
      gatherTimeoutMs: 2000,
      reconnect: true,
      stallMs: 4000,           // no new frame for this long while connected → "stalled" (camera lost)
      report: true,            // send passthrough decode counts to the server (it also watches the RTCP feedback)
      onState: null            // function(state, detail) — "connecting", "playing", "stalled", "retrying", "error", "closed"
    }, options || {});
    var base = opts.base.replace(/\/$/, "");
    var t0 = performance.now();
    // Milliseconds since play() for each step, to see where first-frame time goes.
    var handle = { pc: null, sessionId: null, mode: null, closed: false, ready: null, timing: {} };
    function mark(name) { if (!(name in handle.timing)) handle.timing[name] = Math.round(performance.now() - t0); }
    var retryMs = 1000, retryTimer = null, watchTimer = null;

    function state(s, detail) { if (opts.onState) { try { opts.onState(s, detail); } catch (e) { /* UI callback */ } } }

    function headers() {
      var h = { "Content-Type": "application/json" };
      if (token) h.Authorization = "Bearer " + token;
      return h;
    }

    function release() {
      var pc = handle.pc, id = handle.sessionId;
      handle.pc = null; handle.sessionId = null;
      if (pc) { try { pc.close(); } catch (e) { /* already closed */ } }
      if (id) {
        fetch(base + "/" + encodeURIComponent(cameraId) + "/sessions/" + encodeURIComponent(id),
              { method: "DELETE", headers: headers(), keepalive: true }).catch(function () {});
      }
    }

    // "playing" only once frames are *decoded* (a connected peer, or frames received but not
    // decoded — B-frames in passthrough — is not playing). A tile whose camera stops sending
    // shows a frozen picture: "stalled" (the server reconnects to the camera by itself).
    // In passthrough the decode counts go to the server, which answers "transcode" when the
    // browser cannot decode the camera's stream; the tile then reconnects transcoded.
    function watch(from) {
      var last = from ? from.framesDecoded : 0, lastReceived = from ? from.framesReceived : 0;
      var lastChange = performance.now(), stalled = false, playing = false;
      var pc = handle.pc;
      clearInterval(watchTimer);
      watchTimer = setInterval(async function () {
        if (!handle.pc || handle.pc !== pc) return;
        var s = await handle.stats();
        var decoded = s.framesDecoded - last, received = s.framesReceived - lastReceived;
        last = s.framesDecoded; lastReceived = s.framesReceived;
        // decoding: most received frames decode (keyframes only — B-frames in passthrough — is not playing;
        // a busy PC decoding late still decodes most of them)
        if (decoded > 0 && decoded * 4 >= received) {
          lastChange = performance.now();
          if (!playing || stalled) { playing = true; stalled = false; state("playing", handle.mode); }
        } else if (received > 4 && decoded * 4 < received) {
          if (!stalled) { stalled = true; playing = false; state("stalled", "frames arrive but do not decode"); }
        } else if (!stalled && performance.now() - lastChange > opts.stallMs) {
          stalled = true; playing = false; state("stalled", "no video for " + Math.round(opts.stallMs / 1000) + " s");
        }
        if (handle.mode === "passthrough" && handle.sessionId && opts.report) report(s);
      }, 1000);
    }

    async function report(s) {
      var id = handle.sessionId;
      try {
        var resp = await fetch(base + "/" + encodeURIComponent(cameraId) + "/sessions/" + encodeURIComponent(id) + "/report", {
          method: "POST", headers: headers(),
          body: JSON.stringify({ frames_received: s.framesReceived, frames_decoded: s.framesDecoded })
        });
        if (!resp.ok) return;
        var answer = await resp.json();
        if (answer.action === "transcode" && handle.sessionId === id && !handle.closed) {
          opts.mode = "transcode";
          handle.switched = "transcode";
          state("switching", "passthrough not decoding in this browser");
          retryMs = 0;
          scheduleRetry("switching to transcode");
          retryMs = 1000;
        } else if (answer.action === "switched" && handle.sessionId === id && !handle.closed) {
          // the server moved this viewer to the transcode in place: same connection, "playing" again
          // once the transcoded frames decode
          handle.mode = "transcode";
          handle.switched = "transcode";
          state("switching", "switched to transcode by the server");
          watch(await handle.stats());
        }
      } catch (e) { /* the next report will tell */ }
    }

    function scheduleRetry(reason) {
      release();
      if (handle.closed || !opts.reconnect) return;
      state("retrying", reason);
      retryTimer = setTimeout(function () { attempt().catch(function () {}); }, retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    }

    async function connect() {
      retryTimer = null;
      state("connecting");
      var pc = new RTCPeerConnection({ iceServers: opts.iceServers });
      handle.pc = pc;
      var transceiver = pc.addTransceiver("video", { direction: "recvonly" });
      if (opts.offerCodecs) restrictCodecs(transceiver, opts.offerCodecs);
      else if (opts.mode !== "transcode") preferH264(transceiver);
      pc.ontrack = function (ev) {
        var stream = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
        video.muted = true;          // autoplay policies allow muted video only
        video.playsInline = true;    // iOS: play inside the tile, not full screen
        video.srcObject = stream;
        mark("track");
        if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(function () { mark("first_frame"); });
        var p = video.play();
        if (p && p.catch) p.catch(function () {});
      };
      pc.onconnectionstatechange = function () {
        if (pc !== handle.pc) return;
        if (pc.connectionState === "connected") { mark("connected"); retryMs = 1000; watch(); }
        if (pc.connectionState === "failed") scheduleRetry("connection failed");
      };
      await pc.setLocalDescription(await pc.createOffer());
      await waitIceComplete(pc, opts.gatherTimeoutMs);
      mark("gathered");
      var query = [];
      if (opts.mode === "transcode" || opts.mode === "passthrough") query.push("mode=" + opts.mode);
      if (opts.stream && opts.stream !== "main") query.push("stream=" + encodeURIComponent(opts.stream));
      var url = base + "/" + encodeURIComponent(cameraId) + "/offer" + (query.length ? "?" + query.join("&") : "");
      var resp = await fetch(url, {
        method: "POST", headers: headers(),
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" })
      });
      if (!resp.ok) {
        var detail = resp.statusText;
        try { detail = (await resp.json()).detail || detail; } catch (e) { /* not JSON */ }
        var err = new Error("live view of " + cameraId + " refused (" + resp.status + "): " + detail);
        err.status = resp.status;
        throw err;
      }
      var answer = await resp.json();
      mark("answered");
      if (pc !== handle.pc) {   // closed while waiting: tell the server at once
        handle.sessionId = answer.session_id; release(); return;
      }
      handle.sessionId = answer.session_id;
      handle.mode = answer.mode;
      handle.codec = answer.codec;
      handle.reason = answer.reason;
      handle.stream = answer.stream;
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    }

    function attempt() {
      return connect().catch(function (err) {
        // 401/403/404/409 will not get better by retrying; anything else (camera offline,
        // server restart) may.
        if (err && [401, 403, 404, 409].indexOf(err.status) >= 0) {
          state("error", err.message); release(); throw err;
        }
        scheduleRetry(err && err.message);
        throw err;
      });
    }

    handle.ready = attempt();
    handle.ready.catch(function () {});

    handle.close = function () {
      handle.closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      clearInterval(watchTimer);
      release();
      if (video.srcObject) { video.srcObject = null; }
      state("closed");
    };

    handle.stats = async function () {
      var out = { framesDecoded: 0, framesReceived: 0, codec: null, frameWidth: null, frameHeight: null, packetsLost: 0 };
      if (!handle.pc) return out;
      var report = await handle.pc.getStats();
      var codecs = {};
      report.forEach(function (s) { if (s.type === "codec") codecs[s.id] = s.mimeType; });
      report.forEach(function (s) {
        if (s.type === "inbound-rtp" && s.kind === "video") {
          out.framesDecoded = s.framesDecoded || 0;
          out.framesReceived = s.framesReceived || 0;
          out.packetsLost = s.packetsLost || 0;
          out.frameWidth = s.frameWidth || null;
          out.frameHeight = s.frameHeight || null;
          out.codec = codecs[s.codecId] || null;
          out.decoderImplementation = s.decoderImplementation || null;
          // Average time a frame waited in the jitter buffer: the receive-side share of latency.
          out.jitterBufferMs = s.jitterBufferEmittedCount ? Math.round(1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount) : null;
        }
      });
      return out;
    };

    return handle;
  }

  global.XLLive = { play: play };
})(window);
