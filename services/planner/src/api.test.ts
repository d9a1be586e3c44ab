import { isFleetnetError } from "@fleetnet/protocol";
import { describe, expect, it } from "vitest";
import {
  parseDocumentsRequest,
  parseEventsRequest,
  parsePlanPageRequest,
  parseRolloutRequest,
  planPagesKey,
} from "./api.js";

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return isFleetnetError(err) ? `${err.code}: ${err.message}` : String(err);
  }
  return "no error";
};

describe("API request parsing", () => {
  it("accepts well-formed requests", () => {
    expect(parseDocumentsRequest(enc({ files: [{ name: "a.yaml", text: "x" }], by: "alice" }))).toEqual({
      files: [{ name: "a.yaml", text: "x" }],
      by: "alice",
    });
    expect(parseRolloutRequest(enc({ rolloutId: "r-1" }))).toEqual({ rolloutId: "r-1" });
  });

  it.each([
    ["{", /^BAD_REQUEST: bad request: not UTF-8 JSON/],
    [[1], /^BAD_REQUEST: bad request: not a JSON object/],
    [{ files: [] }, /files: 1-1000 entries/],
    [{ files: [{ name: "", text: "" }] }, /files\[0\]\.name/],
    [{ files: [{ name: "a", text: 3 }] }, /files\[0\]\.text/],
    [{ files: [{ name: "a", text: "" }], extra: 1 }, /unknown field\(s\) extra/],
    [{ files: [{ name: "a", text: "" }], by: "" }, /by: 1-128 characters/],
  ])("documents request %j → %s", (body, want) => {
    expect(codeOf(() => parseDocumentsRequest(enc(body)))).toMatch(want);
  });

  it.each([
    [{}, /^BAD_REQUEST: .*rolloutId/],
    [{ rolloutId: "a.b" }, /^INVALID_NAME: invalid rollout id "a.b"/],
    [{ rolloutId: "r-1", x: 1 }, /unknown field\(s\) x/],
  ])("rollout request %j → %s", (body, want) => {
    expect(codeOf(() => parseRolloutRequest(enc(body)))).toMatch(want);
  });
});

describe("plan page requests", () => {
  it("parse {planId, hosts: {offset, limit}} with defaults; refuse bad fields by name", () => {
    expect(parsePlanPageRequest(enc({ planId: "p-1", hosts: { offset: 3, limit: 2 } }))).toEqual({
      planId: "p-1",
      offset: 3,
      limit: 2,
    });
    expect(parsePlanPageRequest(enc({ planId: "p-1" }))).toMatchObject({ offset: 0 });
    expect(codeOf(() => parsePlanPageRequest(enc({ planId: "p-1", hosts: { offset: -1 } })))).toMatch(
      /^BAD_REQUEST: .*hosts\.offset/,
    );
    expect(codeOf(() => parsePlanPageRequest(enc({ planId: "p-1", hosts: { limit: 0 } })))).toMatch(
      /^BAD_REQUEST: .*hosts\.limit/,
    );
    expect(codeOf(() => parsePlanPageRequest(enc({ planId: "a:b" })))).toMatch(/^INVALID_NAME/);
    expect(codeOf(() => parsePlanPageRequest(enc({ planId: "p", x: 1 })))).toMatch(/^BAD_REQUEST: .*x/);
    expect(planPagesKey("p-1")).toBe("fleetnet:plan:view-p-1");
  });
});

describe("events requests", () => {
  it("take an optional `after` (the `next` of a reply); refuse a bad one by name", () => {
    expect(parseEventsRequest(enc({ rolloutId: "r-1" }))).toEqual({ rolloutId: "r-1" });
    expect(parseEventsRequest(enc({ rolloutId: "r-1", after: 42, by: "u" }))).toEqual({
      rolloutId: "r-1",
      after: 42,
      by: "u",
    });
    expect(codeOf(() => parseEventsRequest(enc({ rolloutId: "r-1", after: -3 })))).toMatch(
      /^BAD_REQUEST: .*after/,
    );
    expect(codeOf(() => parseEventsRequest(enc({ after: 1 })))).toMatch(/^BAD_REQUEST: .*rolloutId/);
  });
});
