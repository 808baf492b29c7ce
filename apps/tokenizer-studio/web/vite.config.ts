// Vite build configuration for the Tokenizer Studio web UI (relative asset paths, no network assets).
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

// The built UI talks only to the engine that serves it: forbid every other origin.
// The engine's Content-Security-Policy header (enginekit/enginecore/security.py) is the
// authority; this <meta> copy covers the page wherever it is opened and must list the same
// directives, minus frame-ancestors, which browsers ignore (and warn about) in a <meta>. An
// engine test compares them.
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

function contentSecurityPolicy(): Plugin {
  return {
    name: 'tokenizer-studio-csp',
    apply: 'build',
    transformIndexHtml() {
      return [
        {
          tag: 'meta',
          attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY },
          injectTo: 'head-prepend',
        },
      ];
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [react(), contentSecurityPolicy()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
  },
});
