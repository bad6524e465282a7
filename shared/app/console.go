package app

// ConsoleKey returns the key the web console seals its session cookies
// with: derived from Config.Secret for that purpose only, like the page
// tokens' and blob URLs' keys, so every process of one deployment agrees
// on it and no other signature verifies with it.
func (a *App) ConsoleKey() []byte { return derive(a.cfg.Secret, "console-sessions") }
