/**
 * Dark and light themes: the user's choice is kept in localStorage; without one, the
 * system's preference. The theme is the `data-theme` attribute the stylesheet keys on.
 */
import { useState } from "preact/hooks";

export type Theme = "dark" | "light";

const THEME_KEY = "exchange.theme";

function initialTheme(): Theme {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === "dark" || saved === "light") return saved;
  return window.matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

/** Sets the theme on the page now (before the first render, so it does not flash). */
export function applyInitialTheme(): Theme {
  const theme = initialTheme();
  document.documentElement.dataset["theme"] = theme;
  return theme;
}

/** The current theme and the function that switches it. */
export function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => document.documentElement.dataset["theme"] === "light" ? "light" : "dark");
  const toggle = (): void => {
    const next: Theme = theme === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_KEY, next);
    document.documentElement.dataset["theme"] = next;
    setTheme(next);
  };
  return [theme, toggle];
}
