// JSON over fetch. Every failure becomes an ApiError whose message can be shown to a person as is.

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export const getJSON = (url) => request(url, { method: "GET" });

export const postJSON = (url, body) =>
  request(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

async function request(url, options) {
  let response;
  try {
    response = await fetch(url, { ...options, headers: { Accept: "application/json", ...options.headers } });
  } catch {
    throw new ApiError("Could not reach the server. Check your connection and try again.");
  }
  const data = await response.json().catch(() => null);
  if (response.ok && data !== null) return data;
  throw new ApiError(errorSentence(response, data), response.status);
}

function errorSentence(response, data) {
  const said = data && typeof data.error === "string" ? data.error : "";
  if (response.status === 429) {
    const seconds = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    const wait = Number.isFinite(seconds) ? `in ${seconds} second${seconds === 1 ? "" : "s"}` : "in a moment";
    return `You're going a little fast. Please try again ${wait}.`;
  }
  if (response.status === 503) {
    return said || "The drawing store is unavailable right now. Please try again in a minute.";
  }
  if (said) return said;
  if (response.ok) return "The server sent an answer this page could not read.";
  return response.status >= 500
    ? "Something went wrong on the server. Please try again."
    : `The request was refused (${response.status}).`;
}
