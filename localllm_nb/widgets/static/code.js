// CodeBox: read-only code with a Copy button (selects the text where the clipboard is refused).
import { h } from "./shared.js";

function render({ model, el }) {
  const code = h("pre", { class: "llnb-code", tabindex: "0" });
  const copy = h("button", { class: "llnb-copy", type: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(model.get("code")); copy.textContent = "Copied"; }
    catch { const r = document.createRange(); r.selectNodeContents(code); const s = getSelection(); s.removeAllRanges(); s.addRange(r); copy.textContent = "Selected: press Ctrl+C"; }
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  const sync = () => { code.textContent = model.get("code"); };
  model.on("change:code", sync); sync();
  el.append(h("div", { class: "llnb-codebox" }, copy, code));
}

export default { render };
