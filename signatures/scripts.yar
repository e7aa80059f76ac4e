// Script droppers: scripts that download and run something, or that hide
// their code behind encoding. Limited to script extensions so plain source
// code and documentation elsewhere do not match.
private rule Script_Extension
{
    condition:
        extension matches /^\.(vbs|vbe|js|jse|wsf|wsh|hta|ps1|psm1|bat|cmd)$/
}

rule Script_Download_And_Execute
{
    meta:
        description = "Script that downloads a payload and executes it"
        severity = "high"
        author = "kensa"
        reference = "https://attack.mitre.org/techniques/T1105/"
    strings:
        $d1 = "DownloadString" nocase ascii wide
        $d2 = "DownloadFile" nocase ascii wide
        $d3 = "Net.WebClient" nocase ascii wide
        $d4 = "Invoke-WebRequest" nocase ascii wide
        $d5 = "Start-BitsTransfer" nocase ascii wide
        $d6 = /bitsadmin(\.exe)?\s+\/transfer/ nocase ascii wide
        $d7 = /certutil(\.exe)?\s+[-\/]urlcache/ nocase ascii wide
        $d8 = "MSXML2.XMLHTTP" nocase ascii wide
        $d9 = "WinHttp.WinHttpRequest" nocase ascii wide
        $d10 = "Microsoft.XMLHTTP" nocase ascii wide
        $e1 = "WScript.Shell" nocase ascii wide
        $e2 = "Shell.Application" nocase ascii wide
        $e3 = "ShellExecute" nocase ascii wide
        $e4 = "Start-Process" nocase ascii wide
        $e5 = "Invoke-Expression" nocase ascii wide
        $e6 = /\bIEX\s*\(/ nocase ascii wide
        $e7 = "ADODB.Stream" nocase ascii wide
        $e8 = /\bstart\s+(\/b\s+)?("[^"\r\n]*"\s+)?"?[^\r\n"]*\.(exe|scr|dll|vbs|js|ps1)\b/ nocase ascii wide
        $e9 = /rundll32(\.exe)?\s/ nocase ascii wide
    condition:
        Script_Extension and filesize < 5MB and any of ($d*) and any of ($e*)
}

rule Script_Obfuscated_Loader
{
    meta:
        description = "Script that decodes and runs hidden code (encoded PowerShell, char-code or base64 loaders)"
        severity = "high"
        author = "kensa"
        reference = "https://attack.mitre.org/techniques/T1027/"
    strings:
        $ps_enc = /powershell(\.exe)?[^\r\n]{0,80}\s-(e|en|enc|enco|encod|encode|encoded|encodedc|encodedcommand)\s+[A-Za-z0-9+\/]{40}/ nocase ascii wide
        $b64 = "FromBase64String" nocase ascii wide
        $iex = /\b(IEX|Invoke-Expression)\b/ nocase ascii wide
        $fcc = "String.fromCharCode" nocase ascii wide
        $eval = /\beval\s*\(/ nocase ascii wide
        $unescape = /\bunescape\s*\(/ nocase ascii wide
        $chr = /\bchrw?\s*\(\s*\d+\s*\)\s*&/ nocase ascii
        $execute = /\bExecute(Global)?\s*\(?/ nocase ascii
    condition:
        Script_Extension and filesize < 5MB and (
            $ps_enc
            or ($b64 and $iex)
            or (#fcc > 5 and $eval)
            or ($unescape and $eval and #unescape > 3)
            or (#chr > 20 and $execute)
        )
}
