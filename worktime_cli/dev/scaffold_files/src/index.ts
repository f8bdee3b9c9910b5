import { Hono } from "hono";
import { cors } from "hono/cors";

// `Env` is declared in worker-configuration.d.ts, written by `worktime types` from
// wrangler.toml and migrations/: c.env.DB, c.env.KV and each secret are typed, and row
// types such as UsersRow are global, e.g. c.env.DB.prepare(sql).first<UsersRow>().
const app = new Hono<{ Bindings: Env }>();

// Middleware
app.use("*", cors());

// Health check
app.get("/health", (c) => c.json({ status: "ok" }));

export default app;
