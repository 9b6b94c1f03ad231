// The Sources page works without this: it only refuses an export over the size limit before
// uploading it (the service would refuse it anyway, after the upload).
"use strict";
document.querySelectorAll("form.upload").forEach((form) => {
  const input = form.querySelector("input[type=file]");
  const limit = Number(form.dataset.maxBytes || 0);
  form.addEventListener("submit", (event) => {
    const file = input.files && input.files[0];
    let message = form.querySelector(".size-error");
    if (file && limit && file.size > limit) {
      event.preventDefault();
      if (!message) {
        message = document.createElement("p");
        message.className = "field-error size-error";
        message.id = input.id + "-size-error";
        input.insertAdjacentElement("afterend", message);
      }
      message.textContent = `This file is ${(file.size / 1048576).toFixed(1)} MiB: the limit is ${(limit / 1048576).toFixed(1)} MiB.`;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${message.id}`.trim());
      input.focus();
    } else if (message) {
      message.remove();
    }
  });
});
