// The Write page: sends the form to /generate as a stream and shows the draft as it is written,
// then sends the author's verdict to /feedback. Plain JavaScript, no framework, no build.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("write-form"), prompt = $("prompt"), writeButton = $("write"), progress = $("progress");
  const writeError = $("write-error"), result = $("result"), draft = $("draft"), timing = $("timing");
  const model = $("model"), sources = $("sources"), actions = $("actions"), feedbackStatus = $("feedback-status");
  const editForm = $("edit-form"), edited = $("edited"), rejectForm = $("reject-form"), reason = $("reason");
  const editButton = $("edit"), rejectButton = $("thumbs-down");

  let lastRequest = null;  // what Regenerate sends again
  let traceId = null;      // the draft feedback is about
  let busy = false;

  function request() {
    const links = $("links").value.split(/\s+/).map((l) => l.trim()).filter(Boolean);
    const body = { prompt: prompt.value, stream: true, max_new_tokens: Number($("length").value), links };
    if ($("category").value) body.category = $("category").value;
    return body;
  }

  function showError(message) {
    writeError.textContent = message;
    writeError.hidden = !message;
  }

  async function problemOf(response) {
    // The API answers errors as {"detail": ...} (BentoML's typed APIs: {"error": ...}).
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      const detail = body.detail ?? body.error ?? text;
      return typeof detail === "string" ? detail : JSON.stringify(detail);
    } catch {
      return text || response.statusText;
    }
  }

  function signInHint(response, message) {
    return response.status === 401 ? "You are signed out: sign in again at /login, then retry." : message;
  }

  // Server-sent events from a fetch body: blocks separated by a blank line, `event:` and `data:` lines.
  async function* events(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
        let name = "message";
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
      }
      if (done) return;
    }
  }

  function showSources(list) {
    sources.replaceChildren();
    for (const source of list) {
      const item = document.createElement("li");
      item.dataset.kind = source.kind;
      const link = document.createElement("a");
      link.href = source.url;
      link.textContent = source.title || source.url;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      const about = document.createElement("span");
      about.className = "muted";
      const where = source.kind === "link" ? "a page you linked" : "the author's writing";
      about.textContent = ` · ${where} · relevance ${Number(source.score).toFixed(2)}`;
      item.append(link, about);
      if (source.title) {  // an untitled post is already named by its URL
        const url = document.createElement("span");
        url.className = "muted small url";
        url.textContent = source.url;
        item.append(document.createElement("br"), url);
      }
      sources.append(item);
    }
    if (!list.length) {
      const item = document.createElement("li");
      item.className = "muted";
      item.textContent = "Nothing: the draft rests on the model alone.";
      sources.append(item);
    }
  }

  function setBusy(on) {
    busy = on;
    writeButton.disabled = on;
    $("regenerate").disabled = on;
    editButton.disabled = on;
    rejectButton.disabled = on;
    draft.setAttribute("aria-busy", String(on));
    progress.textContent = on ? "writing…" : "";
  }

  function closePanels() {
    editForm.hidden = rejectForm.hidden = true;
    editButton.setAttribute("aria-expanded", "false");
    rejectButton.setAttribute("aria-expanded", "false");
    draft.hidden = false;
  }

  function ms(value) {
    return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
  }

  async function write(body) {
    if (busy) return;
    lastRequest = body;
    traceId = null;
    showError("");
    closePanels();
    feedbackStatus.textContent = "";
    feedbackStatus.className = "";
    actions.hidden = true;
    draft.textContent = "";
    delete draft.dataset.ttftMs;
    delete draft.dataset.totalMs;
    delete draft.dataset.traceId;
    draft.dataset.pieces = "0";
    timing.textContent = "";
    model.textContent = "";
    sources.replaceChildren();
    setBusy(true);
    const started = performance.now();
    let pieces = 0, finished = false;
    try {
      const response = await fetch("/generate", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        showError(signInHint(response, await problemOf(response)));
        return;
      }
      result.hidden = false;
      for await (const event of events(response.body)) {
        if (event.name === "start") {
          traceId = event.data.trace_id;
          draft.dataset.traceId = traceId;
          model.textContent = `Written by ${event.data.model_version}`;
          showSources(event.data.sources || []);
        } else if (event.name === "message") {
          if (pieces === 0) {
            const ttft = performance.now() - started;
            draft.dataset.ttftMs = String(Math.round(ttft));
            timing.textContent = `First words after ${ms(ttft)}…`;
          }
          pieces += 1;
          draft.dataset.pieces = String(pieces);
          draft.append(event.data.text);
        } else if (event.name === "done") {
          finished = true;
          const total = performance.now() - started;
          draft.textContent = event.data.text;
          draft.dataset.totalMs = String(Math.round(total));
          const first = draft.dataset.ttftMs ? `First words after ${ms(Number(draft.dataset.ttftMs))} · ` : "";
          timing.textContent = `${first}whole draft after ${ms(total)}.`;
          if (!event.data.text.trim()) timing.textContent += " The twin wrote nothing this time: try Regenerate.";
          actions.hidden = false;
        } else if (event.name === "error") {
          finished = true;
          showError(event.data.detail || "the twin could not finish this draft");
          if (pieces) actions.hidden = false;
        }
      }
      if (!finished) showError("the connection closed before the draft was finished: try again");
    } catch (error) {
      showError(`could not reach the twin: ${error.message}`);
    } finally {
      setBusy(false);
    }
  }

  async function sendFeedback(body, done) {
    feedbackStatus.textContent = "sending…";
    feedbackStatus.className = "muted";
    try {
      const response = await fetch("/feedback", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ trace_id: traceId, ...body }),
      });
      if (!response.ok) {
        feedbackStatus.textContent = `Not sent: ${signInHint(response, await problemOf(response))}`;
        feedbackStatus.className = "error";
        return;
      }
      feedbackStatus.textContent = done;
      feedbackStatus.className = "ok";
      closePanels();
      actions.hidden = false;
    } catch (error) {
      feedbackStatus.textContent = `Not sent: ${error.message}`;
      feedbackStatus.className = "error";
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!prompt.value.trim()) {
      showError("Write what the twin should write about first.");
      prompt.setAttribute("aria-invalid", "true");
      prompt.focus();
      return;
    }
    prompt.removeAttribute("aria-invalid");
    write(request());
  });
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("regenerate").addEventListener("click", () => lastRequest && write(lastRequest));

  editButton.addEventListener("click", () => {
    const opening = editForm.hidden;
    closePanels();
    if (!opening) return;
    edited.value = draft.textContent;
    editForm.hidden = false;
    draft.hidden = true;
    editButton.setAttribute("aria-expanded", "true");
    edited.focus();
  });
  $("cancel-edit").addEventListener("click", () => { closePanels(); editButton.focus(); });
  editForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!edited.value.trim()) { edited.focus(); return; }
    draft.textContent = edited.value;
    sendFeedback({ rating: 1, edited_text: edited.value },
      "Accepted. Your version will be used to train the next version of your twin.");
  });
  edited.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); editForm.requestSubmit(); }
  });

  rejectButton.addEventListener("click", () => {
    const opening = rejectForm.hidden;
    closePanels();
    if (!opening) return;
    rejectForm.hidden = false;
    rejectButton.setAttribute("aria-expanded", "true");
    reason.focus();
  });
  $("cancel-reject").addEventListener("click", () => { closePanels(); rejectButton.focus(); });
  rejectForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { rating: -1 };
    if (reason.value.trim()) body.reason = reason.value.trim();
    sendFeedback(body, "Thanks: the twin will learn that this draft missed.");
  });
})();
