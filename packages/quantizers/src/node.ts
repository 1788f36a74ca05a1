/** Node-only helpers (file reading). */
export {};
