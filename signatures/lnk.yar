import "lnk"

// Windows shortcuts that start a command interpreter or script host, or
// that point into a hidden folder on the medium (the USB shortcut-worm
// trick: real files moved into a hidden folder, shortcuts left in their place).
rule Lnk_Starts_Interpreter
{
    meta:
        description = "Shortcut (.lnk) that starts cmd, PowerShell, rundll32, mshta or a script host"
        severity = "high"
        author = "kensa"
        reference = "https://attack.mitre.org/techniques/T1204/002/"
    condition:
        lnk.is_lnk and (
            lnk.local_base_path matches /(^|\\)(cmd|powershell|pwsh|rundll32|mshta|wscript|cscript|regsvr32|conhost)(\.exe)?$/i
            or lnk.relative_path matches /(^|\\)(cmd|powershell|pwsh|rundll32|mshta|wscript|cscript|regsvr32|conhost)(\.exe)?$/i
            or lnk.name matches /(^|\\)(cmd|powershell|pwsh|rundll32|mshta|wscript|cscript)(\.exe)?$/i
            or lnk.cmd_line_args matches /(\bcmd(\.exe)?\s+\/[ck]\b|powershell|pwsh|rundll32|mshta|wscript|cscript|regsvr32)/i
        )
}

rule Lnk_Targets_Hidden_Folder
{
    meta:
        description = "Shortcut (.lnk) that opens a file inside a hidden or disguised folder"
        severity = "high"
        author = "kensa"
        reference = "https://attack.mitre.org/techniques/T1564/001/"
    condition:
        lnk.is_lnk and (
            lnk.relative_path matches /(^|\\)(\.[^\\.][^\\]*|(\xC2\xA0|[ _])+|RECYCLER|\$RECYCLE\.BIN|System Volume Information)\\[^\\]+$/i
            or lnk.cmd_line_args matches /(^|[\s"\\])(\xC2\xA0|[ _])+\\[^\\\s"]+\.(exe|dll|scr|com|js|vbs|bat|cmd|ps1)/i
        )
}
