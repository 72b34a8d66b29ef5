import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// Served by the API at /konsoll/ (api/console.py); every asset is bundled, nothing is loaded from elsewhere.
export default defineConfig({
  base: "/konsoll/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
