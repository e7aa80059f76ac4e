// autorun.inf files that launch a program when a medium is opened: the
// classic USB worm carrier (Conficker, Stuxnet-era droppers).
rule Autorun_Inf_Launches_Program
{
    meta:
        description = "autorun.inf that starts a program from the medium"
        severity = "high"
        author = "kensa"
        reference = "https://learn.microsoft.com/en-us/windows/win32/shell/autoplay-reg"
    strings:
        $section = "[autorun]" nocase
        $open = /(^|\n)[ \t]*open[ \t]*=[ \t]*\S/ nocase
        $shellexec = /(^|\n)[ \t]*shellexecute[ \t]*=[ \t]*\S/ nocase
        $verb = /(^|\n)[ \t]*shell\\[^\r\n=]+\\command[ \t]*=[ \t]*\S/ nocase
        $usb = /(^|\n)[ \t]*useautoplay[ \t]*=[ \t]*1/ nocase
    condition:
        filesize < 64KB
        and filename matches /^autorun\.inf$/i
        and $section
        and ($open or $shellexec or $verb or $usb)
}
