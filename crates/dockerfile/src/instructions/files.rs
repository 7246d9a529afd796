//! ADD and COPY: sources (paths or inline heredocs), a destination, and each one's flags.

use super::flags::{FlagKind, FlagValues, flag, parse_flags};
use super::{Add, Command, Copy, Features, InlineSource, SourcesAndDest};
use crate::syntax::{Node, chomp_heredoc_content, parse_heredoc_word};

pub(super) fn add(node: &Node, features: Features) -> Result<Command, String> {
    if node.args.len() < 2 {
        return Err(no_destination("ADD"));
    }
    let mut specs = vec![
        flag("chown", FlagKind::String),
        flag("chmod", FlagKind::String),
        flag("link", FlagKind::Bool),
        flag("keep-git-dir", FlagKind::Bool),
        flag("checksum", FlagKind::String),
        flag("unpack", FlagKind::Bool),
    ];
    if features.labs {
        specs.push(flag("exclude", FlagKind::Strings));
    }
    let v: FlagValues = parse_flags(&node.flags, &specs)?;
    Ok(Command::Add(Add {
        paths: sources_and_dest(node, "ADD")?,
        chown: v.string("chown"),
        chmod: v.string("chmod"),
        link: v.bool("link"),
        keep_git_dir: v.optional_bool("keep-git-dir"),
        checksum: v.string("checksum"),
        unpack: v.optional_bool("unpack"),
        exclude: v.strings("exclude"),
    }))
}

pub(super) fn copy(node: &Node, features: Features) -> Result<Command, String> {
    if node.args.len() < 2 {
        return Err(no_destination("COPY"));
    }
    let mut specs = vec![
        flag("chown", FlagKind::String),
        flag("from", FlagKind::String),
        flag("chmod", FlagKind::String),
        flag("link", FlagKind::Bool),
    ];
    if features.labs {
        specs.push(flag("exclude", FlagKind::Strings));
        specs.push(flag("parents", FlagKind::Bool));
    }
    let v = parse_flags(&node.flags, &specs)?;
    Ok(Command::Copy(Copy {
        paths: sources_and_dest(node, "COPY")?,
        from: v.string("from"),
        chown: v.string("chown"),
        chmod: v.string("chmod"),
        link: v.bool("link"),
        parents: v.bool("parents"),
        exclude: v.strings("exclude"),
    }))
}

fn sources_and_dest(node: &Node, command: &str) -> Result<SourcesAndDest, String> {
    let (dest, sources) = node
        .args
        .split_last()
        .ok_or_else(|| no_destination(command))?;
    if parse_heredoc_word(dest).ok().flatten().is_some() {
        return Err(format!(
            "{command} cannot accept a heredoc as a destination"
        ));
    }
    let mut paths = Vec::new();
    let mut inline = Vec::new();
    for source in sources {
        match parse_heredoc_word(source).ok().flatten() {
            Some(doc) => {
                let body = node.heredocs.iter().find(|h| h.name == doc.name);
                let content = body.map(|h| h.content.clone()).unwrap_or_default();
                let data = if doc.chomp {
                    chomp_heredoc_content(&content)
                } else {
                    content
                };
                inline.push(InlineSource {
                    path: doc.name,
                    data,
                    expand: doc.expand,
                });
            }
            None => paths.push(source.clone()),
        }
    }
    Ok(SourcesAndDest {
        sources: paths,
        inline,
        dest: dest.clone(),
    })
}

fn no_destination(command: &str) -> String {
    format!(
        "{command} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}
