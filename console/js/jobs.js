// Background jobs (plates, reports) as a person sees them: a dialog with the job's progress, then the file.

import { download, get } from "./api.js";
import { dialog, h } from "./dom.js";

// A background job (plates, a report) in a dialog: `start()` makes it; its progress is read every second
// until its file is ready to download as `filename`.
export async function runJob(title, start, filename, things = "项") {
  const bar = h("progress", { class: "progress", max: "1", value: "0" });
  const status = h("p", { role: "status", text: "正在生成……" });
  const box = dialog(title, h("div", {}, status, bar));
  try {
    let job = await start();
    while (job.status !== "done" && job.status !== "failed" && box.box.open) {
      bar.max = Math.max(1, job.total || 1);
      bar.value = job.done || 0;
      status.textContent = `正在生成：${job.done || 0} / ${job.total || "?"}`;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      job = await get(`/api/jobs/${job.id}`);
    }
    if (job.status === "failed") throw new Error(job.error || "生成失败，请稍后重试");
    if (job.status === "done") {
      bar.max = 1;
      bar.value = 1;
      status.textContent = `已生成 ${job.total} ${things}。`;
      status.after(h("button", { type: "button", class: "primary", text: "下载", onclick: () => download(`/api/jobs/${job.id}/file`, filename) }));
    }
  } catch (error) {
    status.textContent = error.message;
    status.className = "state-error";
  }
}
