//! Drawing the editor: the tabs, the rows of the current tab with the selected one
//! highlighted, the selected field's description, what just happened (a located error in
//! full), the keys, and an input line or a choice list over it. Every text from the file,
//! the vault's names or a plugin passes `term::output::printable` first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Tabs, Wrap};

use crate::app::{App, Mode, Status};
use crate::rows::{Row, TABS};
use config::fields::Kind;

fn clean(text: &str) -> String {
    term::output::printable(text).replace('\n', " ")
}

pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let status_lines = match &app.status {
        Status::None => 0,
        Status::Info(_) => 1,
        Status::Error(e) => e.lines().count().clamp(1, 12) as u16 + 2,
    };
    let [top, body, about, status, keys] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(4),
        Constraint::Length(2),
        Constraint::Length(status_lines),
        Constraint::Length(1),
    ])
    .areas(frame.area());

    let titles: Vec<String> = TABS.iter().enumerate().map(|(i, t)| format!("{} {}", i + 1, t.title())).collect();
    let heading = format!(" pyra config — profile {} — {} ", clean(&app.profile), clean(&app.path));
    let tabs = Tabs::new(titles)
        .select(app.tab)
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD))
        .block(Block::bordered().title(heading));
    frame.render_widget(tabs, top);

    draw_rows(frame, app, body);

    let about_text = match app.selected_setting() {
        Some(s) => {
            let mut parts = vec![clean(s.field.description), s.field.kind.word().to_string()];
            if let Kind::Integer { min, max } = s.field.kind {
                parts.push(format!("{min} to {max}"));
            }
            if let Kind::Number { min, max } = s.field.kind {
                parts.push(format!("{min} to {max}"));
            }
            if !s.field.choices().is_empty() {
                parts.push(s.field.choices().join(" | "));
            }
            if let Some(d) = s.field.default {
                parts.push(format!("default {d}"));
            }
            parts.join(" · ")
        }
        None => match app.rows.get(app.selected) {
            Some(Row::VaultKey(_)) => "Enter: replace (rotate) its value, typed masked · Del: remove it".into(),
            Some(Row::Action(..)) => "Enter: do it".into(),
            _ => String::new(),
        },
    };
    frame.render_widget(Paragraph::new(about_text).wrap(Wrap { trim: true }).fg(Color::Cyan), about);

    match &app.status {
        Status::None => {}
        Status::Info(m) => frame.render_widget(Paragraph::new(clean(m)).fg(Color::Green), status),
        Status::Error(e) => {
            let lines: Vec<Line<'_>> = e.lines().map(|l| Line::from(term::output::printable(l))).collect();
            let block = Block::bordered().title(" not saved ").fg(Color::Red);
            frame.render_widget(Paragraph::new(lines).block(block), status);
        }
    }

    let help = match app.mode {
        Mode::Browse => "←/→ tab  ↑/↓ move  Enter edit  e rename key  Del reset  q quit",
        Mode::Input(_) => "Enter save  Esc cancel  Ctrl-U clear",
        Mode::Choose { .. } => "↑/↓ choose  Enter save  Esc cancel",
        Mode::Confirm { .. } => "y yes  any other key no",
    };
    frame.render_widget(Paragraph::new(help).add_modifier(Modifier::DIM), keys);

    draw_mode(frame, app, body);
}

fn draw_rows(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let height = area.height as usize;
    // Keep the selection in view, with its heading when there is room.
    let offset = (app.selected + 2).saturating_sub(height);
    let label_width = 24;
    let lines: Vec<Line<'_>> = app
        .rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, row)| {
            let selected = i == app.selected;
            // A marker besides the reverse video, for terminals without attributes.
            let mark = if selected { "› " } else { "  " };
            let line = match row {
                Row::Heading(t) => Line::from(Span::from(clean(t)).bold()),
                Row::Note(t) => Line::from(Span::from(format!("  {}", clean(t))).add_modifier(Modifier::DIM)),
                Row::Action(label, _) => Line::from(format!("{mark}▸ {}", clean(label))),
                Row::VaultKey(name) => Line::from(format!("{mark}  {}", clean(name))),
                Row::Setting(s) => {
                    let shown = clean(&s.shown());
                    let value = if s.value.is_none() && !matches!(s.field.kind, Kind::Secret | Kind::VaultKey) {
                        Span::from(shown).add_modifier(Modifier::DIM)
                    } else {
                        Span::from(shown)
                    };
                    Line::from(vec![Span::from(format!("{mark}  {:<label_width$} ", s.field.label)), value])
                }
            };
            if selected { line.add_modifier(Modifier::REVERSED) } else { line }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

/// The input line or the choice list, over the bottom of the rows.
fn draw_mode(frame: &mut Frame<'_>, app: &App, body: Rect) {
    match &app.mode {
        Mode::Browse => {}
        Mode::Input(input) => {
            let area = Rect { y: body.bottom().saturating_sub(3), height: 3.min(body.height), ..body };
            let shown: String = if input.masked {
                "•".repeat(input.buffer.len())
            } else {
                term::output::printable(&input.text()).into_owned()
            };
            frame.render_widget(Clear, area);
            let block = Block::bordered().title(format!(" {} ", clean(&input.prompt)));
            frame.render_widget(Paragraph::new(shown.clone()).block(block), area);
            let before: usize = if input.masked {
                input.cursor
            } else {
                input.buffer[..input.cursor].iter().collect::<String>().chars().count()
            };
            let x = area.x + 1 + (before as u16).min(area.width.saturating_sub(3));
            frame.set_cursor_position((x, area.y + 1));
        }
        Mode::Choose { options, selected, .. } => {
            let height = (options.len() as u16 + 2).min(body.height);
            let area = Rect { y: body.bottom().saturating_sub(height), height, width: body.width.min(40), ..body };
            frame.render_widget(Clear, area);
            let lines: Vec<Line<'_>> = options
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let l = Line::from(format!(" {} {o}", if i == *selected { "●" } else { "○" }));
                    if i == *selected { l.add_modifier(Modifier::REVERSED) } else { l }
                })
                .collect();
            frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" choose ")), area);
        }
        Mode::Confirm { question, .. } => {
            let area = Rect { y: body.bottom().saturating_sub(3), height: 3.min(body.height), ..body };
            frame.render_widget(Clear, area);
            frame.render_widget(Paragraph::new(clean(question)).block(Block::bordered()), area);
        }
    }
}
