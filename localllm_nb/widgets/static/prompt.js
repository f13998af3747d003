// PromptBox: a prompt text area; Enter sends, Shift+Enter adds a line.
import { h } from "./shared.js";

function render({ model, el }) {
  const area = h("textarea", { class: "llnb-prompt-input", rows: "3", "aria-label": "prompt", placeholder: model.get("placeholder") });
  const send = h("button", { class: "llnb-send", type: "button" }, "Send ⏎");
  const hint = h("div", { class: "llnb-hint" }, "Enter to send · Shift+Enter for a new line");
  const submit = () => {
    const text = area.value;
    if (!text.trim() || model.get("disabled")) return;
    model.send({ type: "send", text });
    area.value = "";
  };
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    e.stopPropagation(); // keep JupyterLab's own shortcuts out of the prompt box
  });
  send.addEventListener("click", submit);
  const sync = () => { send.disabled = model.get("disabled"); area.placeholder = model.get("placeholder"); };
  model.on("change:disabled", sync); model.on("change:placeholder", sync);
  sync();
  el.append(h("div", { class: "llnb-prompt" }, area, h("div", { class: "llnb-prompt-bar" }, hint, send)));
}

export default { render };
