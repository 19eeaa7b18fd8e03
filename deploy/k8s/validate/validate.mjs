// Offline validation of rendered Kubernetes manifests (the output of `kubectl kustomize`).
//
//   kubectl kustomize deploy/k8s/overlays/gpu | node deploy/k8s/validate/validate.mjs
//   node deploy/k8s/validate/validate.mjs rendered.yaml [more.yaml ...]
//   ... --json objects.json   also writes the objects as a JSON array (for the C# manifest tests)
//
// Every document is checked against the JSON schema of its apiVersion/kind, with no cluster:
//   * built-in kinds: the Kubernetes OpenAPI schemas, as compiled by the `kubernetes-models` package;
//   * KEDA and Prometheus Operator kinds: their CRD schemas (@kubernetes-models/keda, .../prometheus-operator);
//   * Strimzi kinds: strimzi-schemas.json beside this file (hand-written from Strimzi's v1beta2 CRDs, strict);
//   * any other apiVersion/kind is an error: nothing passes unchecked.
// The compiled schemas check types, formats, enums and required fields, but (like the API server's
// pruning) they let unknown fields through. A misspelt field is the most common manifest bug, so each
// object is validated through a Proxy that records which property names the schema asked for at each
// path; a key that the schema never asked for, in an object whose properties it did inspect, is an
// unknown field. Objects the schema enumerates (maps such as labels, or free-form config) are exempt.
//
// Prints one line per error ("Kind/name: path: message") and, on success, "validated N objects (...)".
// Exit code 0 when everything is valid, 1 on validation errors, 2 on unusable input.

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));

const crdPackages = {
  "keda.sh": "@kubernetes-models/keda",
  "monitoring.coreos.com": "@kubernetes-models/prometheus-operator",
};

const strimzi = (() => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const schemas = JSON.parse(readFileSync(join(here, "strimzi-schemas.json"), "utf8"));
  const compiled = {};
  for (const [key, schema] of Object.entries(schemas)) {
    if (!key.startsWith("$")) compiled[key] = ajv.compile(schema);
  }
  return compiled;
})();

/** The module that holds the model of apiVersion/kind, or undefined when none is known. */
function modelModule(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  if (crdPackages[group]) return `${crdPackages[group]}/${apiVersion}/${kind}`;
  if (group === "" || group.endsWith(".k8s.io") || !group.includes(".")) return `kubernetes-models/${apiVersion}/${kind}`;
  return undefined;
}

/** Wraps value so that every property the validator reads is recorded in seen (path -> names). */
function track(value, path, seen) {
  if (value === null || typeof value !== "object") return value;
  const touch = (key) => {
    let names = seen.get(path);
    if (!names) seen.set(path, (names = new Set()));
    names.add(key);
  };
  return new Proxy(value, {
    get(target, key, receiver) {
      if (typeof key === "string") touch(key);
      return track(Reflect.get(target, key, receiver), `${path}/${String(key)}`, seen);
    },
    has(target, key) {
      if (typeof key === "string") touch(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      touch("*");
      return Reflect.ownKeys(target);
    },
  });
}

/** Keys of plain objects that the schema never asked for (see the header). */
function unknownFields(value, path, seen, found) {
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, `${path}/${i}`, seen, found));
  } else if (value !== null && typeof value === "object") {
    const asked = seen.get(path);
    if (asked && !asked.has("*")) {
      for (const key of Object.keys(value)) {
        if (!asked.has(key)) found.push(`${path}/${key}`);
      }
    }
    for (const [key, child] of Object.entries(value)) unknownFields(child, `${path}/${key}`, seen, found);
  }
}

const toDotted = (path) => path.replace(/^\//, "").replaceAll("/", ".") || "(root)";

async function validate(object) {
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind are required"];
  const strimziKey = `${apiVersion}/${kind}`;
  if (apiVersion.startsWith("kafka.strimzi.io/")) {
    const check = strimzi[strimziKey];
    if (!check) return [`no schema for ${strimziKey} in strimzi-schemas.json`];
    return check(object) ? [] : check.errors.map((e) => `${toDotted(e.instancePath)}: ${e.message}${e.params?.additionalProperty ? ` '${e.params.additionalProperty}' (unknown field)` : ""}`);
  }

  const specifier = modelModule(apiVersion, kind);
  if (!specifier) return [`unknown apiVersion ${apiVersion}: no schema to validate ${kind} against`];
  let Model;
  try {
    Model = (await import(specifier))[kind];
  } catch {
    Model = undefined;
  }
  if (!Model) return [`unknown kind ${kind} in ${apiVersion}`];

  const seen = new Map();
  const errors = [];
  try {
    Model.prototype.validate.call(track(object, "", seen));
  } catch (e) {
    const details = e.errors ?? [];
    if (details.length === 0) errors.push(e.message);
    for (const d of details) errors.push(`${toDotted(d.instancePath)}: ${d.message}`);
  }
  const unknown = [];
  unknownFields(object, "", seen, unknown);
  for (const path of unknown) errors.push(`${toDotted(path)}: unknown field`);
  return errors;
}

async function main() {
  const args = process.argv.slice(2);
  const jsonAt = args.indexOf("--json");
  const jsonOut = jsonAt >= 0 ? args.splice(jsonAt, 2)[1] : undefined;
  const files = args;
  const text = files.length === 0 ? readFileSync(0, "utf8") : files.map((f) => readFileSync(f, "utf8")).join("\n---\n");
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      console.error(`unreadable YAML: ${doc.errors[0].message}`);
      process.exit(2);
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  if (objects.length === 0) {
    console.error("no Kubernetes objects in the input");
    process.exit(2);
  }

  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(objects));

  let failures = 0;
  const kinds = new Map();
  for (const object of objects) {
    const name = `${object.kind ?? "?"}/${object.metadata?.name ?? "?"}`;
    kinds.set(object.kind, (kinds.get(object.kind) ?? 0) + 1);
    for (const error of await validate(object)) {
      console.log(`${name}: ${error}`);
      failures++;
    }
  }
  if (failures > 0) {
    console.log(`${failures} error(s) in ${objects.length} objects`);
    process.exit(1);
  }
  const summary = [...kinds].sort().map(([k, n]) => `${k} ${n}`).join(", ");
  console.log(`validated ${objects.length} objects (${summary})`);
}

await main();
